DROP TABLE subprocessor_objections;
DROP TABLE subprocessor_changes;
DROP TABLE subprocessors;
