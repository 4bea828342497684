// Statistics (percentiles, medians across runs) and the readable tables the bench prints.

export function percentiles(values) {
  if (values.length === 0) return { n: 0, p50: null, p95: null, p99: null, max: null };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const round = (v) => Math.round(v * 100) / 100;
  return { n: sorted.length, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]) };
}

export function median(values) {
  const nums = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (nums.length === 0) return null;
  const mid = Math.floor(nums.length / 2);
  return nums.length % 2 ? nums[mid] : (nums[mid - 1] + nums[mid]) / 2;
}

/** Field-wise median of same-shaped result objects (numbers → median, objects → recurse). */
export function medianOf(objects) {
  const first = objects[0];
  if (typeof first === 'number' || first === null) return median(objects);
  if (!first || typeof first !== 'object' || Array.isArray(first)) return first;
  const out = {};
  const keys = new Set(objects.flatMap((o) => (o && typeof o === 'object' ? Object.keys(o) : [])));
  for (const key of keys) out[key] = medianOf(objects.map((o) => o?.[key] ?? null));
  return out;
}

function cell(value, width, digits = 1) {
  const text = value === null || value === undefined ? '–' : typeof value === 'number' ? value.toFixed(digits) : String(value);
  return text.padStart(width);
}

export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cols) => cols.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function routeLine(name, t) {
  if (!t) return null;
  if (t.route === 'direct' && t.proxyUrl) return `${name}: ${t.url}, the runtime workerd's own entry (wrangler dev's proxy at ${t.proxyUrl} bypassed; its CPU still counted)`;
  if (t.route === 'proxy') return `${name}: ${t.url}, through wrangler dev's proxy workerd`;
  return `${name}: ${t.url}${t.route === 'url' ? ' (--url)' : ''}`;
}

const SERVER_ORDER = { custos: 0, floor: 1, peer: 2 };

/** The human summary of a whole bench run: one table of load points, then per-step figures and ratios. */
export function render(result) {
  const out = [];
  const { machine, config, cryptoFloor } = result;
  out.push(`Custos bench — ${machine.cpuModel} × ${machine.cpus} cores, ${machine.memGiB} GiB, Node ${machine.node}, wrangler ${machine.wrangler}`);
  out.push(`C ∈ {${config.clients.join(', ')}}, T=${config.seconds} s per point (+${config.warmup} s warm-up), ${config.runs} run(s) (medians shown), ${config.liveUsers} live users`);
  for (const [name, t] of Object.entries(config.targets)) out.push(`Traffic ${routeLine(name, t)}`);
  if (cryptoFloor) {
    out.push(`Crypto floor (workerd, one core): ES256 verify + SHA-256 ${cryptoFloor.es256VerifyPlusSha256.perSecond}/s · ES256 sign ${cryptoFloor.es256Sign.perSecond}/s → at most ${cryptoFloor.ceremonyCryptoPerSecond} ceremonies per CPU-second on crypto alone`);
  }
  if (result.idleCpu) {
    out.push('Idle CPU (ms per second, no traffic): ' + Object.entries(result.idleCpu).map(([n, i]) => `${n} runtime ${i.runtimeMsPerSecond} / proxy ${i.proxyMsPerSecond}`).join(' · '));
  }
  const rows = [];
  for (const scale of result.scales) {
    const points = [...scale.points].sort((a, b) => SERVER_ORDER[a.server] - SERVER_ORDER[b.server] || a.shape.localeCompare(b.shape) || a.type.localeCompare(b.type) || a.clients - b.clients);
    for (const p of points) {
      rows.push([
        scale.users.toLocaleString('en'), p.server, p.shape, p.type.slice(0, 6), String(p.clients), cell(p.perSecond, 6), cell(p.p50, 6), cell(p.p99, 6),
        cell(p.runtimeCpuMs, 6, 2), cell(p.proxyCpuMs, 6, 2), cell(p.ceremoniesPerRuntimeCpuSecond, 6, 0), cell(p.ceremoniesPerServerCpuSecond, 6, 0),
        cell(p.d1RoundTrips, 4, 2), cell(p.doCalls, 4, 2), p.staleSocketRetries ? `${p.errors} (${p.staleSocketRetries} resent)` : String(p.errors),
      ]);
    }
  }
  out.push('', table(['users', 'server', 'shape', 'type', 'C', 'cer/s', 'p50ms', 'p99ms', 'rt ms', 'proxy ms', 'cer/rt·s', 'cer/cpu·s', 'D1 rt', 'DO', 'errors'], rows));
  const seeded = result.scales.filter((s) => s.seedSeconds > 1);
  if (seeded.length > 0) out.push('Seeding (Custos and peer): ' + seeded.map((s) => `to ${s.users.toLocaleString('en')} users in ${s.seedSeconds} s`).join(' · '));
  const stepRows = [];
  for (const scale of result.scales) {
    for (const [type, shapes] of Object.entries(scale.steps ?? {})) {
      for (const [shape, steps] of Object.entries(shapes)) {
        for (const [step, s] of Object.entries(steps)) {
          stepRows.push([scale.users.toLocaleString('en'), `${type.slice(0, 6)} ${shape} ${step}`, cell(s.runtimeCpuMs, 6, 2), cell(s.proxyCpuMs, 6, 2), cell(s.latencyMs, 6, 2), cell(s.d1RoundTrips, 4, 2), cell(s.workerD1RoundTrips, 4, 2), cell(s.doD1RoundTrips, 4, 2), cell(s.doCalls, 4, 2), cell(s.d1Statements, 4, 2)]);
        }
      }
    }
  }
  if (stepRows.length > 0) {
    out.push('', `Per step (one client, each step ${config.stepReps} × in a row, CPU read after the server settles):`);
    out.push(table(['users', 'step', 'rt ms', 'proxy ms', 'lat ms', 'D1 rt', 'in Worker', 'in DO', 'DO calls', 'D1 stmts'], stepRows));
  }
  const ratioRows = [];
  for (const scale of result.scales) {
    for (const r of scale.ratios ?? []) {
      ratioRows.push([scale.users.toLocaleString('en'), r.shape, r.type.slice(0, 6), String(r.clients), cell(r.runtimeCpuVsFloor, 5, 2), cell(r.serverCpuVsFloor, 5, 2), cell(r.perRuntimeCpuSecondVsPeer, 5, 2), cell(r.perServerCpuSecondVsPeer, 5, 2), cell(r.p99VsPeer, 5, 2)]);
    }
  }
  if (ratioRows.length > 0) {
    out.push('', 'Ratios (Custos / floor: CPU per ceremony, lower is leaner, 1 = the floor; Custos / peer: ceremonies per CPU-second, higher is better; p99, lower is better):');
    out.push(table(['users', 'shape', 'type', 'C', 'rt CPU/floor', 'all CPU/floor', 'cer/rt·s / peer', 'cer/cpu·s / peer', 'p99 / peer'], ratioRows));
  }
  out.push(
    '',
    'rt ms = CPU (utime+stime from /proc) of the runtime per ceremony: the workerd running the worker, its DOs and local D1 (for the peer: its node process).',
    'proxy ms = the rest of wrangler dev\'s process tree per ceremony: its proxy workerd, its node process (dev-only; ≈ 0 when traffic goes straight to the runtime).',
    'D1 rt, DO = D1 round trips and Durable Object calls per ceremony under load (Custos\'s counters); for the floor, those it was told to make (the probe\'s totals).',
    'errors = ceremonies that failed (any unexpected answer or a socket error); "resent" = requests sent again after a kept-alive socket was found closed before any answer (they never reached the server).',
    'cer/rt·s = ceremonies per CPU-second of the runtime; cer/cpu·s = per CPU-second of every server process (runtime + proxy). Windows: settled before the first request and after the last response.',
  );
  return out.join('\n');
}
