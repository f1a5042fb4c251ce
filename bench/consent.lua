-- One consent choice per request, each from a new visitor (the portal makes
-- a subject id), as the banner would post it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"choices":{"analytics":true,"video":false},"source":"api"}'
