INSERT INTO bench_insert (payload) VALUES ('{"choices":{"analytics":true,"video":false}}');
