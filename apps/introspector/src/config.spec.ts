import { expectReadmeDocuments } from '@ctp/testing';
import { introspectorConfigSchema } from './config';

describe('introspector configuration', () => {
  it('is documented in README.md', () => {
    expectReadmeDocuments(introspectorConfigSchema);
  });
});
