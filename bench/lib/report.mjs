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

/** Where the requests went: whether wrangler dev's proxy hop was in the path changes the CPU figures. */
function route(config) {
  if (config.route === 'direct') return `${config.url}, the runtime workerd's own entry (wrangler dev's proxy at ${config.proxyUrl} bypassed, so proxy ms ≈ 0; --via-proxy to go through it)`;
  if (config.route === 'proxy') return `${config.url}, through wrangler dev's proxy workerd`;
  return `${config.url} (--url)`;
}

export const STEPS = ['rpStart', 'sdkStart', 'sign', 'sdkFinish', 'rpStatus'];
export const SERVER_STEPS = ['rpStart', 'sdkStart', 'sdkFinish', 'rpStatus'];

/** The human summary of a whole bench run. */
export function render(result) {
  const out = [];
  const { machine, config, cryptoFloor } = result;
  out.push(`Custos bench — ${machine.cpuModel} × ${machine.cpus} cores, ${machine.memGiB} GiB, Node ${machine.node}, wrangler ${machine.wrangler}`);
  out.push(`C=${config.clients} clients, T=${config.seconds} s per phase, ${config.runs} run(s) (medians shown), ${config.usersPerClient} live users per client`);
  out.push(`Traffic: ${route(config)}`);
  if (cryptoFloor) {
    out.push(
      `Crypto floor (workerd, one core): ES256 verify + SHA-256 ${cryptoFloor.es256VerifyPlusSha256.perSecond}/s · ES256 sign ${cryptoFloor.es256Sign.perSecond}/s · SHA-256 ${cryptoFloor.sha256.perSecond}/s` +
        ` → at most ${cryptoFloor.ceremonyCryptoPerSecond} ceremonies per CPU-second on crypto alone (1 verify + 1 sign)`,
    );
  }
  if (result.requestFloor) {
    const f = result.requestFloor;
    out.push(
      `Request floor (an HTTP request doing nothing, median of ${f.batches} × ${f.requests} after ${f.warmup} warm-up): ${f.workerCpuMsPerRequest} ms CPU in workerd` +
        ` (+ ${f.proxyCpuMsPerRequest} ms in the dev proxy); a ceremony makes 4 requests`,
    );
  }
  for (const scale of result.scales) {
    out.push('', `Store: ${scale.users.toLocaleString('en')} users (${scale.devices.toLocaleString('en')} devices)`);
    const rows = Object.entries(scale.types).map(([type, r]) => {
      const m = r.median;
      return [
        type, cell(m.perSecond, 7), cell(m.latency.ceremony.p50, 6), cell(m.latency.ceremony.p95, 6), cell(m.latency.ceremony.p99, 6),
        cell(m.cpuMsPerCeremony.worker, 6, 2), cell(m.ceremoniesPerWorkerCpuSecond, 6, 0),
        cell(m.appCpuMsPerCeremony, 6, 2), cell(m.ceremoniesPerAppCpuSecond, 6, 0), cell(m.cpuMsPerCeremony.proxy, 6, 2),
        cell(m.fractionOfCryptoFloor === null ? null : m.fractionOfCryptoFloor * 100, 5, 1),
        cell(m.perCeremony?.d1RoundTrips, 5, 2), cell(m.perCeremony?.d1Statements, 5, 2), cell(m.perCeremony?.doCalls, 5, 2), String(r.errors),
      ];
    });
    out.push(table(['type', 'cer/s', 'p50ms', 'p95ms', 'p99ms', 'cpu ms', 'cer/cpu·s', 'app ms*', 'app cer/cpu·s*', 'proxy ms', '%crypto', 'D1 rt', 'D1 st', 'DO', 'errors'], rows));
    const stepRows = [];
    for (const [type, r] of Object.entries(scale.types)) {
      for (const step of STEPS) {
        const l = r.median.latency[step];
        stepRows.push([`${type} ${step}`, cell(l.p50, 6, 2), cell(l.p95, 6, 2), cell(l.p99, 6, 2)]);
      }
    }
    out.push('', table(['step latency (ms)', 'p50', 'p95', 'p99'], stepRows));
  }
  if (result.roundTrips) {
    out.push('', 'Round trips and workerd CPU per step (sequential probe, one ceremony at a time; worker + Durable Object):');
    const rows = [];
    for (const [type, steps] of Object.entries(result.roundTrips)) {
      for (const step of [...SERVER_STEPS, 'total']) {
        const s = steps[step];
        rows.push([`${type} ${step}`, cell(s.d1RoundTrips, 5, 2), cell(s.d1Statements, 5, 2), cell(s.d1Batches, 5, 2), cell(s.doCalls, 5, 2), cell(s.doD1RoundTrips, 5, 2), cell(s.workerCpuMs, 6, 2)]);
      }
    }
    out.push(table(['step', 'D1 rt', 'D1 stmts', 'batches', 'DO calls', 'D1 rt in DO', 'cpu ms'], rows));
  }
  out.push(
    '',
    'cpu ms = CPU of the workerd running Custos (its DOs and local D1) per ceremony; cer/cpu·s = ceremonies per CPU-second of it (the headline figures).',
    '*app ms = cpu ms − 4 × the request floor, i.e. our own code above what the runtime costs for 4 empty requests; app cer/cpu·s = ceremonies per CPU-second of that.',
    '%crypto = cer/cpu·s as a share of the crypto floor. proxy ms = wrangler dev\'s proxy workerd, a dev-only cost: ≈ 0 when the bench calls the runtime\'s entry directly (the default).',
  );
  return out.join('\n');
}
