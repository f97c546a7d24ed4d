// The resident flows against the gateway's built-in provider simulator (no WARDGATE_ISSUER).

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

import { ARTIFACTS, startGateway } from './lib/processes.mjs';
import { COUNTER, SHARED_DEVICE, STAFF_DESK, VISIT_DRAFT, residentSuite } from './lib/suite.mjs';

residentSuite('simulator', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { service, url } = await startGateway({ logPath: join(ARTIFACTS, 'simulator-gateway.log') });
  return { gateway: url, output: () => service.output(), stop: () => service.stop() };
}, [STAFF_DESK, COUNTER, VISIT_DRAFT, SHARED_DEVICE]);
