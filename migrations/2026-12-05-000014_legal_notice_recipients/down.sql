UPDATE suppressions SET reason = 'unsubscribed' WHERE reason = 'unsubscribed_contact';
ALTER TABLE suppressions DROP CONSTRAINT suppressions_reason_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
    CHECK (reason IN ('unsubscribed', 'bounced', 'added_by_staff'));
ALTER TABLE campaign_recipients DROP COLUMN basis;
