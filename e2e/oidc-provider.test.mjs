// The resident flows against oidc-provider 9 (interop/provider.mjs), configured only through the
// gateway's environment variables: WARDGATE_ISSUER, WARDGATE_CLIENT_ID, WARDGATE_CLIENT_SECRET,
// WARDGATE_ACR_LEVEL1, WARDGATE_ACR_LEVEL2.

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

import { ARTIFACTS, freePort, startGateway, startProvider } from './lib/processes.mjs';
import { STAFF_REFUSED, residentSuite } from './lib/suite.mjs';

const ACR_LEVEL_1 = 'urn:wardgate:interop:loa:1';
const ACR_LEVEL_2 = 'urn:wardgate:interop:loa:2';
const ATTEMPTS = 3;

residentSuite('oidc-provider', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const failures = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
    // The provider registers the gateway's exact redirect URI, so the gateway's port is chosen
    // first; should it be taken by the time the gateway starts, both start again.
    const port = await freePort();
    const provider = await startProvider(
      `http://127.0.0.1:${port}/auth/callback`,
      join(ARTIFACTS, 'oidc-provider.log'),
    );
    try {
      const gateway = await startGateway({
        port,
        logPath: join(ARTIFACTS, 'oidc-provider-gateway.log'),
        providerEnv: {
          WARDGATE_ISSUER: provider.issuer,
          WARDGATE_CLIENT_ID: provider.clientId,
          WARDGATE_CLIENT_SECRET: provider.clientSecret,
          WARDGATE_ACR_LEVEL1: ACR_LEVEL_1,
          WARDGATE_ACR_LEVEL2: ACR_LEVEL_2,
        },
      });
      return {
        gateway: gateway.url,
        output: () => `${gateway.service.output()}\n--- oidc-provider ---\n${provider.service.output()}`,
        stop: async () => {
          await gateway.service.stop();
          await provider.service.stop();
        },
      };
    } catch (error) {
      await provider.service.stop();
      failures.push(error.message);
    }
  }
  throw new Error(`could not start oidc-provider and the gateway:\n${failures.join('\n---\n')}`);
}, [STAFF_REFUSED]);
