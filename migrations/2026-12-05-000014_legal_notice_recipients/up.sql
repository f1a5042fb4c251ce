-- Why a recipient of a change notice gets it. A 'subscriber' asked for the
-- notices (or is on a list the publisher imported) and may unsubscribe with
-- one click (RFC 8058). A 'contact' is an Owner, Admin or Privacy Officer of
-- a clinic the platform processes data for: the platform owes that clinic
-- notice of sub-processor changes (GDPR Art. 28(2)) and of changes to its
-- notices under the agreement between them, so the message cannot be
-- silenced by an unsubscribe, only sent to another address or role.
ALTER TABLE campaign_recipients ADD COLUMN basis text NOT NULL DEFAULT 'subscriber'
    CHECK (basis IN ('subscriber', 'contact'));

-- Rows of the platform's campaigns not yet sent to a clinic contact go out as
-- the legal notices they are.
UPDATE campaign_recipients r SET basis = 'contact'
    FROM campaigns c
    WHERE c.id = r.campaign_id AND c.clinic_id IS NULL AND r.status <> 'sent'
      AND EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                  WHERE lower(u.email) = r.email
                    AND m.role IN ('owner', 'admin', 'privacy_officer'));

-- Contacts who unsubscribed from the platform's notices before this change
-- were left out of every later campaign. Their suppression now keeps only its
-- effect on subscriber mail; the reason says so.
ALTER TABLE suppressions DROP CONSTRAINT suppressions_reason_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
    CHECK (reason IN ('unsubscribed', 'bounced', 'added_by_staff', 'unsubscribed_contact'));
UPDATE suppressions s SET reason = 'unsubscribed_contact'
    WHERE s.clinic_id IS NULL AND s.reason = 'unsubscribed'
      AND EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                  WHERE lower(u.email) = s.email
                    AND m.role IN ('owner', 'admin', 'privacy_officer'));
