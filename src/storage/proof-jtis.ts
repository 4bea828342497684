// Single-use identifiers of device proofs and native envelopes (device_proof_jtis): each once, forgotten after they expire.

/**
 * Records `jti` (already scoped to its signer) until `expiresAt` (epoch seconds) and sweeps a few expired ones.
 * Answers false when it was already recorded: the caller refuses the replay. The primary key decides, so two
 * racing requests with one jti cannot both pass.
 */
export async function consumeJti(db: D1Database, input: { jti: string; deviceId: string; expiresAt: number; now: number }): Promise<boolean> {
  const [stored] = await db.batch([
    db.prepare('INSERT OR IGNORE INTO device_proof_jtis (jti, device_id, expires_at) VALUES (?1, ?2, ?3)').bind(input.jti, input.deviceId, input.expiresAt),
    db.prepare('DELETE FROM device_proof_jtis WHERE jti IN (SELECT jti FROM device_proof_jtis WHERE expires_at < ?1 LIMIT 20)').bind(input.now),
  ]);
  return (stored?.meta.changes ?? 0) > 0;
}
