import { MemoryShareNetwork, MemoryShareProvider } from '../../src/share/memory/index.js';
import { runShareProviderContract } from './contract.js';

runShareProviderContract({
  name: 'memory',
  create: () => {
    const network = new MemoryShareNetwork();
    return { server: new MemoryShareProvider(network), client: new MemoryShareProvider(network) };
  },
});
