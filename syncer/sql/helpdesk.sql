-- The helpdesk schema this project ships as its default source (utf8mb4 throughout).
-- Multi-tenant: every row carries tenant_id and every primary key starts with it, so equal ids exist
-- in different tenants. No foreign-key cascades: rows deleted by ON DELETE CASCADE never reach the
-- binlog, so the application deletes children explicitly (the loader and tests do).

CREATE TABLE IF NOT EXISTS tenants (
  id          INT UNSIGNED NOT NULL,
  slug        VARCHAR(64)  NOT NULL,
  name        VARCHAR(200) NOT NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_tenants_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS users (
  tenant_id   INT UNSIGNED NOT NULL,
  id          BIGINT UNSIGNED NOT NULL,
  kind        ENUM('agent','requester') NOT NULL,
  name        VARCHAR(200) NOT NULL,
  email       VARCHAR(320) NULL,
  phone       VARCHAR(40)  NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, id),
  KEY ix_users_email (tenant_id, email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS tickets (
  tenant_id      INT UNSIGNED NOT NULL,
  id             BIGINT UNSIGNED NOT NULL,
  ticket_number  VARCHAR(32)  NOT NULL,
  subject        VARCHAR(500) NOT NULL,
  description    MEDIUMTEXT   NOT NULL,
  status         ENUM('new','open','pending','on_hold','solved','closed') NOT NULL DEFAULT 'new',
  priority       ENUM('low','normal','high','urgent') NOT NULL DEFAULT 'normal',
  category       VARCHAR(100) NULL,
  channel        ENUM('email','web','phone','chat','api') NOT NULL DEFAULT 'web',
  requester_id   BIGINT UNSIGNED NULL,
  assignee_id    BIGINT UNSIGNED NULL,
  order_number   VARCHAR(64)  NULL,
  custom_fields  JSON         NULL,
  created_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, id),
  UNIQUE KEY uq_tickets_number (tenant_id, ticket_number),
  KEY ix_tickets_updated (tenant_id, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS ticket_comments (
  tenant_id   INT UNSIGNED NOT NULL,
  id          BIGINT UNSIGNED NOT NULL,
  ticket_id   BIGINT UNSIGNED NOT NULL,
  author_id   BIGINT UNSIGNED NULL,
  body        MEDIUMTEXT   NOT NULL,
  is_public   TINYINT(1)   NOT NULL DEFAULT 1,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (tenant_id, id),
  KEY ix_comments_ticket (tenant_id, ticket_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS tags (
  tenant_id   INT UNSIGNED NOT NULL,
  id          BIGINT UNSIGNED NOT NULL,
  name        VARCHAR(100) NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE KEY uq_tags_name (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS ticket_tags (
  tenant_id   INT UNSIGNED NOT NULL,
  ticket_id   BIGINT UNSIGNED NOT NULL,
  tag_id      BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (tenant_id, ticket_id, tag_id),
  KEY ix_ticket_tags_tag (tenant_id, tag_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- API keys of the query API: only a SHA-256 of the key is stored.
CREATE TABLE IF NOT EXISTS api_keys (
  key_hash    CHAR(64)     NOT NULL,
  tenant_id   INT UNSIGNED NOT NULL,
  role        ENUM('agent','admin') NOT NULL,
  label       VARCHAR(200) NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (key_hash),
  KEY ix_api_keys_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Issue 8 (additive, idempotent on MariaDB): expiring, revocable keys and the platform-admin flag.
-- Rotation = a new key for the same tenant and role + an expiry on the old one (a grace period).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at DATETIME(3) NULL;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS revoked_at DATETIME(3) NULL;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS platform_admin TINYINT(1) NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS key_prefix VARCHAR(16) NULL
