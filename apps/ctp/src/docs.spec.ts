import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DENY_REASON_CODES, PROBLEMS } from '@ctp/ctp-core';
import { LEDGER_VERIFICATION_CODES } from '@ctp/ledger-core';
import { expectReadmeDocuments, OpenApiContract, REPO_ROOT } from '@ctp/testing';
import { upConfigSchema } from './config';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
interface SchemaNode {
  enum: string[];
}

describe('docs match the code', () => {
  const schemas = (new OpenApiContract().spec as { components: { schemas: Record<string, SchemaNode> } }).components.schemas;

  it('every error code is in docs/errors.md and in the OpenAPI enums, and nothing else is', () => {
    const errorsDoc = read('docs/errors.md');
    for (const code of [...DENY_REASON_CODES, ...Object.keys(PROBLEMS)]) expect(errorsDoc).toContain(`\`${code}\``);
    expect([...schemas.DenyReason!.enum].sort()).toEqual([...DENY_REASON_CODES].sort());
    expect([...schemas.ProblemCode!.enum].sort()).toEqual(Object.keys(PROBLEMS).sort());
  });

  it('docs/ledger.md lists every ledger verification code with its meaning, and nothing else', () => {
    const ledgerDoc = read('docs/ledger.md');
    const table = ledgerDoc.slice(ledgerDoc.indexOf('## Verification failure codes'), ledgerDoc.indexOf('\n## ', ledgerDoc.indexOf('## Verification failure codes') + 1));
    const rows = [...table.matchAll(/^\| `([a-z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(rows.map(([code]) => code).sort()).toEqual(Object.keys(LEDGER_VERIFICATION_CODES).sort());
    for (const [code, meaning] of rows) expect([code, meaning.replace(/\\\|/g, '|')]).toEqual([code, expect.stringContaining(LEDGER_VERIFICATION_CODES[code as keyof typeof LEDGER_VERIFICATION_CODES])]);
  });

  it('README documents every environment variable ctp up reads', () => {
    expectReadmeDocuments(upConfigSchema);
  });
});
