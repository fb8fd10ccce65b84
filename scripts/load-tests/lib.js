// Shared by the k6 load tests: options read from `-e NAME=value`, and a stage plan for a total duration.

export const API_BASE = (__ENV.API_BASE || "http://127.0.0.1:8082").replace(/\/+$/, "");
export const TOKEN = __ENV.TOKEN || "";
export const VUS = parseInt(__ENV.VUS || "10", 10);
export const DURATION = __ENV.DURATION || "30s";

/** A k6 duration ("20s", "1m30s", "2m", "500ms") in seconds. */
export function seconds(duration) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let match;
  while ((match = re.exec(duration)) !== null) total += parseFloat(match[1]) * units[match[2]];
  if (total <= 0) throw new Error(`DURATION=${duration} is not a k6 duration such as 20s or 1m30s`);
  return total;
}

/** Ramp up over a quarter of DURATION, hold VUS for the rest but a tenth, ramp down in that tenth. */
export function rampingStages(vus = VUS, duration = DURATION) {
  const total = seconds(duration);
  const up = Math.max(1, Math.round(total * 0.25));
  const down = Math.max(1, Math.round(total * 0.1));
  const hold = Math.max(1, Math.round(total - up - down));
  return [
    { duration: `${up}s`, target: vus },
    { duration: `${hold}s`, target: vus },
    { duration: `${down}s`, target: 0 },
  ];
}
