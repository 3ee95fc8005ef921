// The wave field, read exactly as the API reads `rollout.waves`: cumulative host counts (1, 50)
// and percentages ("10%") of the project's hosts, counts growing, percentages growing, the last
// one "100%". `1, 50, 100%` is one host, then 50 hosts, then all of them. The rules and messages
// are those of chalicelib/projects/rollout_fields.py and the sizes those of
// chalicelib/rollout/plan.py (wave_size, plan_waves); tests/web/test_waves.py runs this module in
// Node against the API's validator on the same inputs. Pure: no DOM, no Backbone.

export const MAX_WAVES = 20;
export const LAST_WAVE = '100%';
const PATH = 'rollout.waves';
const PERCENT = /^(\d{1,3})%$/;

// The wave list the API takes, from the form's text: "1, 50, 10 %" → [1, 50, "10%"]. A token of
// digits is a host count (a number); anything else travels as typed, for the rules to judge.
export function parseWaves(text) {
  return String(text || '')
    .replace(/(\d)\s+%/g, '$1%')
    .split(/[\s,;]+/)
    .map((token) => token.trim())
    .filter(Boolean)
    .map((token) => (/^\d+$/.test(token) ? Number(token) : token));
}

// The text the form shows for a wave list: [1, "50%", "100%"] → "1, 50%, 100%".
export function formatWaves(waves) {
  return (waves || []).join(', ');
}

// The first message per path, as the API's error collector keeps it.
function add(errors, path, message) {
  if (!Object.hasOwn(errors, path)) errors[path] = message;
}

// Each wave a count or a percentage, counts and percentages each strictly growing.
function checkSpecs(errors, waves) {
  let lastCount = 0;
  let lastPercent = 0;
  let ok = true;
  waves.forEach((spec, i) => {
    const item = `${PATH}[${i}]`;
    if (typeof spec === 'number' && Number.isInteger(spec)) {
      if (spec < 1) {
        add(errors, item, 'a host count must be at least 1');
        ok = false;
      } else if (spec <= lastCount) {
        add(errors, item, `must be greater than the previous count (${lastCount})`);
        ok = false;
      }
      lastCount = Math.max(lastCount, spec);
    } else if (typeof spec === 'string') {
      const match = PERCENT.exec(spec);
      if (!match || Number(match[1]) < 1 || Number(match[1]) > 100) {
        add(errors, item, "a percentage must look like '10%' (1-100)");
        ok = false;
      } else if (Number(match[1]) <= lastPercent) {
        add(errors, item, `must be greater than the previous percentage (${lastPercent}%)`);
        ok = false;
      } else {
        lastPercent = Number(match[1]);
      }
    } else {
      add(errors, item, "must be a host count (1) or a percentage ('10%')");
      ok = false;
    }
  });
  return ok;
}

// The cumulative host count reached at the end of a wave spec (plan.wave_size).
export function waveSize(spec, total) {
  if (typeof spec === 'number') return Math.min(spec, total);
  const percent = Number(PERCENT.exec(spec)[1]);
  return Math.min(total, Math.ceil((percent * total) / 100));
}

// The API's field errors for a wave list and a host count: {"rollout.waves[2]": "..."}.
export function validateWaves(waves, hostCount) {
  const errors = {};
  if (!Array.isArray(waves)) {
    add(errors, PATH, 'must be a list of counts and percentages');
    return errors;
  }
  if (!waves.length) {
    add(errors, PATH, "needs at least one wave, ending at '100%'");
    return errors;
  }
  if (waves.length > MAX_WAVES) {
    add(errors, PATH, `at most ${MAX_WAVES} waves`);
    return errors;
  }
  if (!checkSpecs(errors, waves)) return errors;
  if (waves[waves.length - 1] !== LAST_WAVE) {
    add(errors, `${PATH}[${waves.length - 1}]`, "the last wave must be '100%'");
  }
  if (hostCount) {
    const sizes = waves.map((spec) => waveSize(spec, hostCount));
    for (let i = 1; i < sizes.length; i += 1) {
      if (sizes[i] < sizes[i - 1]) {
        add(errors, `${PATH}[${i}]`,
          `reaches fewer hosts (${sizes[i]}) than the wave before it (${sizes[i - 1]})`);
      }
    }
  }
  return errors;
}

// How many hosts each wave deploys (plan.plan_waves: empty waves dropped, the rest in a last
// wave): [{wave, hosts, reached}], for a preview of what the field means.
export function planSizes(waves, hostCount) {
  const out = [];
  let start = 0;
  for (const spec of waves) {
    const end = waveSize(spec, hostCount);
    if (end > start) {
      out.push({ wave: out.length, hosts: end - start, reached: end });
      start = end;
    }
  }
  if (start < hostCount) out.push({ wave: out.length, hosts: hostCount - start, reached: hostCount });
  return out;
}

const hostsText = (n) => `${n} host${n === 1 ? '' : 's'}`;

// One sentence saying what the waves do to `hostCount` hosts, or null when they are invalid.
export function describeWaves(waves, hostCount) {
  if (Object.keys(validateWaves(waves, hostCount)).length) return null;
  if (!hostCount) {
    return `Cumulative: ${waves.map((w) => (typeof w === 'number' ? hostsText(w) : w)).join(', then ')}.`;
  }
  const parts = planSizes(waves, hostCount).map((w) => (w.reached === hostCount
    ? `all ${hostsText(hostCount)}` : `${hostsText(w.reached)}`));
  return `${parts.length} wave${parts.length === 1 ? '' : 's'}: ${parts.join(', then ')}.`;
}
