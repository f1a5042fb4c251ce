DROP TABLE memberships;
DROP TABLE users;
DROP TABLE clinics;
DROP TABLE platform;
DROP FUNCTION portal_touch_updated_at();
DROP FUNCTION portal_scope_allows(uuid);
