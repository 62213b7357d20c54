import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DENY_REASON_CODES, PROBLEMS } from '@ctp/ctp-core';
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

  it('README documents every environment variable ctp up reads', () => {
    expectReadmeDocuments(upConfigSchema);
  });
});
