DROP TABLE email_deliveries;
DROP TABLE jobs;
