import { CONSENT_STATES, type ConsentState } from '../consent_state';
import { DEFAULT_COPY, type ConsentCopy } from './copy';

export type { ConsentCopy, ConsentState };
type Action = 'shown' | 'agree' | 'decline' | 'revoke';

/**
 * WCAG 2.1 AA: text 16:1 and buttons 10:1 against their backgrounds (1.4.3), a 3 px focus ring
 * 16:1 against white (1.4.11, 2.4.7), 44 px targets (2.5.5), no fixed widths so 320 px and 400%
 * zoom reflow (1.4.10). Agree, Decline and Revoke look alike: no choice is nudged.
 */
const STYLES = `
:host { display: block; max-width: 40rem; color: #1b1b1b; font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
section { border: 2px solid #595959; border-radius: 8px; padding: 1rem 1.25rem; background: #ffffff; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; line-height: 1.3; margin: 0 0 0.5rem; }
p { margin: 0.5rem 0; }
.state { font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; margin-top: 1rem; }
button { font: inherit; font-weight: 600; min-height: 44px; min-width: 44px; padding: 0.5rem 1.25rem; border-radius: 6px;
  border: 2px solid #0b3d91; background: #0b3d91; color: #ffffff; cursor: pointer; max-width: 100%; }
button:hover { background: #082c6b; border-color: #082c6b; }
button:focus-visible { outline: 3px solid #1b1b1b; outline-offset: 3px; }
`;

/**
 * `<ctp-consent>`: the consent dialog of the integration guide as a framework-free custom
 * element. It shows the plain-language copy for `purpose` and `features` (keyed by
 * `ui-copy-id`), offers Agree and Decline, and once consent is given a Revoke control in the same
 * place, with the same look and the same number of key presses (GDPR Art. 7(3): withdrawing is as
 * easy as giving). It talks only to the partner's backend at `endpoint` (which holds the API key
 * and calls CTP): GET `endpoint` for the state, POST `endpoint/{shown,agree,decline,revoke}`.
 * State changes are announced through a polite live region and fire `ctp-consent-change`.
 */
export class CtpConsentElement extends HTMLElement {
  static readonly copies: Record<string, ConsentCopy> = { ...DEFAULT_COPY };
  static readonly defaultCopyId = 'consent-modal-2025-11-01#en-US';

  /** Adds or replaces the copy for a `ui_copy_id` (the id goes into the envelope: never reuse one for other words). */
  static defineCopy(uiCopyId: string, copy: ConsentCopy): void {
    CtpConsentElement.copies[uiCopyId] = copy;
  }

  private readonly root: ShadowRoot;
  private state: ConsentState = 'none';
  private busy = false;
  private failed = false;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
    this.root.adoptedStyleSheets = [sheet];
  }

  get consentState(): ConsentState {
    return this.state;
  }

  get uiCopyId(): string {
    const id = this.getAttribute('ui-copy-id') ?? CtpConsentElement.defaultCopyId;
    return id in CtpConsentElement.copies ? id : CtpConsentElement.defaultCopyId;
  }

  private get copy(): ConsentCopy {
    return CtpConsentElement.copies[this.uiCopyId]!;
  }

  private get endpoint(): string {
    return (this.getAttribute('endpoint') ?? '/consent').replace(/\/+$/, '');
  }

  private get features(): string[] {
    return (this.getAttribute('features') ?? '').split(/[\s,]+/).filter(Boolean);
  }

  private get purpose(): string {
    return this.getAttribute('purpose') ?? '';
  }

  connectedCallback(): void {
    this.render(false);
    void this.load();
  }

  disconnectedCallback(): void {
    clearTimeout(this.expiryTimer);
  }

  private async load(): Promise<void> {
    try {
      const res = await fetch(this.endpoint, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      this.apply(await this.stateOf(res), false);
      if (this.state !== 'granted') await this.send('shown', false);
    } catch {
      this.failed = true;
      this.render(false);
    }
  }

  private async stateOf(res: Response): Promise<{ state: ConsentState; expires_at?: string }> {
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = (await res.json()) as { state?: unknown; expires_at?: unknown };
    if (!CONSENT_STATES.includes(body.state as ConsentState)) throw new Error('unknown consent state');
    return { state: body.state as ConsentState, ...(typeof body.expires_at === 'string' ? { expires_at: body.expires_at } : {}) };
  }

  private async send(action: Action, announce: boolean): Promise<void> {
    const res = await fetch(`${this.endpoint}/${action}`, {
      method: 'POST',
      credentials: 'same-origin',
      // The custom header keeps a cross-site form from posting here (it forces a CORS preflight).
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-ctp-consent': '1' },
      body: JSON.stringify({ purpose: this.purpose, features: this.features, ui_copy_id: this.uiCopyId }),
    });
    this.apply(await this.stateOf(res), announce);
  }

  private async act(action: Exclude<Action, 'shown'>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.root.querySelector('section')?.setAttribute('aria-busy', 'true');
    try {
      this.failed = false;
      await this.send(action, true);
    } catch {
      this.failed = true;
      this.render(true);
    } finally {
      this.busy = false;
      this.root.querySelector('section')?.removeAttribute('aria-busy');
    }
  }

  private apply(next: { state: ConsentState; expires_at?: string }, announce: boolean): void {
    const changed = next.state !== this.state;
    this.state = next.state;
    clearTimeout(this.expiryTimer);
    if (next.state === 'granted' && next.expires_at) {
      // Ask the backend again when the consent ends, so "expired" shows without a reload.
      const delay = Math.max(0, Date.parse(next.expires_at) - Date.now()) + 250;
      this.expiryTimer = setTimeout(() => void fetch(this.endpoint, { credentials: 'same-origin' }).then((r) => this.stateOf(r)).then((s) => this.apply(s, true), () => undefined), Math.min(delay, 2 ** 31 - 1));
    }
    this.render(announce && (changed || this.failed));
    if (changed) this.dispatchEvent(new CustomEvent('ctp-consent-change', { detail: { state: this.state }, bubbles: true, composed: true }));
  }

  private render(moveFocus: boolean): void {
    const copy = this.copy;
    const hadFocus = this.root.activeElement !== null;
    let section = this.root.querySelector('section');
    if (!section) {
      // Built once: the live region must already be in the document when its text changes, or
      // screen readers do not announce the change.
      section = document.createElement('section');
      section.setAttribute('aria-labelledby', 'ctp-consent-heading');
      const heading = document.createElement('h2');
      heading.id = 'ctp-consent-heading';
      const status = document.createElement('p');
      status.className = 'state';
      status.setAttribute('role', 'status');
      const actions = document.createElement('div');
      actions.className = 'actions';
      section.append(heading, document.createElement('p'), actions, status);
      this.root.append(section);
    }
    section.lang = copy.lang;
    const [heading, , actions, status] = [...section.children] as [HTMLElement, HTMLElement, HTMLElement, HTMLElement];
    heading.textContent = copy.heading;
    section.children[1]!.replaceWith(this.body(copy));
    status.dataset.state = this.state;
    status.textContent = this.failed ? copy.error : copy.states[this.state];
    if (this.state === 'granted') actions.replaceChildren(this.button(copy.revoke, 'revoke'));
    else actions.replaceChildren(this.button(copy.agree, 'agree'), this.button(copy.decline, 'decline'));
    // The control that replaced the one just pressed takes the focus, so keyboard users stay in place.
    if (moveFocus || hadFocus) actions.querySelector('button')?.focus();
  }

  private body(copy: ConsentCopy): HTMLParagraphElement {
    const p = document.createElement('p');
    const names = this.features.map((f) => copy.features[f] ?? f);
    const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} ${copy.and} ${names[names.length - 1]}` : (names[0] ?? '');
    const parts = copy.body.split(/(\{features\}|\{purpose\})/);
    for (const part of parts) {
      if (part === '{features}' || part === '{purpose}') {
        const strong = document.createElement('strong');
        strong.textContent = part === '{features}' ? list : (copy.purposes[this.purpose] ?? this.purpose);
        p.append(strong);
      } else if (part !== '') {
        p.append(part);
      }
    }
    return p;
  }

  private button(label: string, action: Exclude<Action, 'shown'>): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset.action = action;
    button.addEventListener('click', () => void this.act(action));
    return button;
  }
}

if (!customElements.get('ctp-consent')) customElements.define('ctp-consent', CtpConsentElement);
