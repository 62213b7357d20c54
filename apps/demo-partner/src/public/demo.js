// The demo page: runs the protected analysis and shows the live consent decision. No inline
// script (the page's CSP allows scripts from this origin only).
const result = document.getElementById('analysis-result');
const decision = document.getElementById('decision');

document.getElementById('analyse').addEventListener('click', async () => {
  result.textContent = '';
  const res = await fetch('/api/analyse', { method: 'POST', headers: { 'x-ctp-consent': '1' } });
  const body = await res.json();
  result.dataset.outcome = res.ok ? 'allowed' : 'denied';
  result.textContent = res.ok ? `Analysed: ${body.summary}` : body.detail;
});

async function refresh() {
  try {
    const body = await (await fetch('/api/decision')).json();
    decision.dataset.decision = body.decision;
    decision.dataset.reason = body.reason ?? '';
    decision.textContent = body.decision === 'allow' ? 'Allowed: consent is active.' : `Denied (${body.reason}).`;
  } catch {
    decision.textContent = 'Unknown: the backend did not answer.';
  }
  setTimeout(refresh, 250);
}
refresh();
