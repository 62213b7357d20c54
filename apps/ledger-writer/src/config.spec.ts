import { expectReadmeDocuments } from '@ctp/testing';
import { ledgerWriterConfigSchema } from './config';

describe('ledger-writer configuration', () => {
  it('is documented in README.md', () => {
    expectReadmeDocuments(ledgerWriterConfigSchema);
  });
});
