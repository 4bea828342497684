// Which D1 migrations are applied: /healthz compares the newest with the one this code needs.

/** The newest file in migrations/ (a test keeps this in step with the folder). */
export const LATEST_MIGRATION = '0016_console_admin_removal.sql';

export const MIGRATE_COMMAND_LOCAL = 'npx wrangler d1 migrations apply custos --local';

/** The newest applied migration (wrangler's d1_migrations table), or null when none is. */
export async function appliedMigration(db: D1Database): Promise<string | null> {
  try {
    const row = await db.prepare('SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1').first<{ name: string }>();
    return row?.name ?? null;
  } catch (error) {
    // No d1_migrations table: nothing was ever applied. Anything else (the database is down) is for the caller.
    if (error instanceof Error && /no such table/.test(error.message)) return null;
    throw error;
  }
}
