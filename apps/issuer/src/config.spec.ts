import { expectReadmeDocuments } from '@ctp/testing';
import { issuerConfigSchema } from './config';

describe('issuer configuration', () => {
  it('is documented in README.md', () => {
    expectReadmeDocuments(issuerConfigSchema);
  });
});
