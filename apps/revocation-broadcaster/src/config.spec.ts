import { expectReadmeDocuments } from '@ctp/testing';
import { broadcasterConfigSchema } from './config';

describe('revocation-broadcaster configuration', () => {
  it('is documented in README.md', () => {
    expectReadmeDocuments(broadcasterConfigSchema);
  });
});
