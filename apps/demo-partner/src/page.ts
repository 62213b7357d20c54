const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface PageOptions {
  lang: 'en' | 'de';
  purpose: string;
  features: string[];
  uiCopyId: string;
}

/** The demo page: the consent dialog, the protected analysis and the live decision. */
export function demoPage(o: PageOptions): string {
  const other = o.lang === 'de' ? '<a href="/?lang=en" hreflang="en" lang="en">English</a>' : '<a href="/?lang=de" hreflang="de" lang="de">Deutsch</a>';
  return `<!doctype html>
<html lang="${o.lang === 'de' ? 'de' : 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Support: call review (CTP demo partner)</title>
<link rel="stylesheet" href="/assets/demo.css">
<script type="module" src="/assets/ctp-consent.js"></script>
<script type="module" src="/assets/demo.js"></script>
</head>
<body>
<main>
<h1>Acme Support: call review</h1>
<p lang="en">A demo partner of the Consent Token Protocol. ${other}</p>
<ctp-consent endpoint="/consent" purpose="${escape(o.purpose)}" features="${escape(o.features.join(' '))}" ui-copy-id="${escape(o.uiCopyId)}"></ctp-consent>
<section class="panel" aria-labelledby="analysis-heading" lang="en">
<h2 id="analysis-heading">Call analysis</h2>
<p>Runs only with consent: the backend checks the consent token before every analysis.</p>
<button type="button" id="analyse">Analyse this call</button>
<p id="analysis-result" role="status"></p>
</section>
<section class="panel" aria-labelledby="decision-heading" lang="en">
<h2 id="decision-heading">Live consent decision</h2>
<p>What the backend would decide for this session right now (checked locally, updated four times a second).</p>
<p id="decision">Checking…</p>
</section>
</main>
</body>
</html>
`;
}
