// D1 queries for the keys a local development run generated for itself (table local_keys).

export type LocalKeyName = 'SIGNING_KEYS' | 'E2E_KEYS' | 'VAPID_KEYS';

export async function readLocalKey(db: D1Database, name: LocalKeyName): Promise<string | null> {
  const row = await db.prepare('SELECT value FROM local_keys WHERE name = ?1').bind(name).first<{ value: string }>();
  return row?.value ?? null;
}

/** Stores a generated key set unless one is there already (two first requests at once); returns the one that stays. */
export async function keepLocalKey(db: D1Database, name: LocalKeyName, value: string, now: string): Promise<string> {
  const [, kept] = await db.batch<{ value: string }>([
    db.prepare('INSERT OR IGNORE INTO local_keys (name, value, created_at) VALUES (?1, ?2, ?3)').bind(name, value, now),
    db.prepare('SELECT value FROM local_keys WHERE name = ?1').bind(name),
  ]);
  const stored = kept?.results[0]?.value;
  if (!stored) throw new Error(`local_keys: ${name} was not stored`);
  return stored;
}
