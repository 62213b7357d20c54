// The pilot's one report page: every success metric of the spec against its target, and each day's artefacts.

export interface PilotMetric {
  category: string;
  metric: string;
  /** The spec's target, as text, e.g. "> 99% during baseline". */
  target: string;
  /** What was measured, as text, e.g. "100% (2,000 of 2,000)". */
  measured: string;
  met: boolean;
}

export interface PilotDay {
  day: number;
  activity: string;
  /** Files under the day's directory, relative to the report. */
  artefacts: readonly { name: string; href: string }[];
  /** PNG charts to show inline, relative to the report. */
  images?: readonly { alt: string; src: string }[];
}

export interface PilotReport {
  title: string;
  generatedAt: Date;
  metrics: readonly PilotMetric[];
  days: readonly PilotDay[];
  notes?: readonly string[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
/** Hrefs are our own relative file names; anything else (a scheme, a parent directory) is refused. */
const href = (path: string) => {
  if (!/^[A-Za-z0-9._/-]+$/.test(path) || path.split('/').includes('..')) throw new Error(`not a relative artefact path: ${path}`);
  return esc(path);
};

export function renderReport(report: PilotReport): string {
  const allMet = report.metrics.every((m) => m.met);
  const rows = report.metrics
    .map((m) => `<tr><td>${esc(m.category)}</td><td>${esc(m.metric)}</td><td>${esc(m.target)}</td><td>${esc(m.measured)}</td><td class="${m.met ? 'met' : 'missed'}">${m.met ? 'met' : 'missed'}</td></tr>`)
    .join('\n');
  const days = report.days
    .map(
      (d) => `<section><h3>Day ${d.day}: ${esc(d.activity)}</h3>
<ul>${d.artefacts.map((a) => `<li><a href="${href(a.href)}">${esc(a.name)}</a></li>`).join('')}</ul>
${(d.images ?? []).map((i) => `<figure><img src="${href(i.src)}" alt="${esc(i.alt)}"><figcaption>${esc(i.alt)}</figcaption></figure>`).join('\n')}
</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3rem .6rem;text-align:left}
.met{color:#0a5c1f;font-weight:600}.missed{color:#a00000;font-weight:600}img{max-width:100%;border:1px solid #ccc}</style></head>
<body><main>
<h1>${esc(report.title)}</h1>
<p>Generated ${esc(report.generatedAt.toISOString())}. Overall: <strong class="${allMet ? 'met' : 'missed'}">${allMet ? 'every success metric met' : 'not every success metric met'}</strong>.</p>
<h2>Success metrics</h2>
<table><thead><tr><th scope="col">Category</th><th scope="col">Metric</th><th scope="col">Target</th><th scope="col">Measured</th><th scope="col">Result</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Timeline</h2>
${days}
${report.notes?.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</main></body></html>
`;
}
