import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { binPath, connectThroughTools, runCli } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome } from '../helpers/share-home.js';

// The newest original's getting-started configurations, unchanged but for their paths.
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/configs/getting-started/', import.meta.url));

void describe("the newest original's getting-started configurations validate and run unchanged", () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let documents: string;
  let data: string;
  let project: string;
  const clients: Client[] = [];

  /** A fixture with its paths swapped for this test's directories, written into the home. */
  const config = async (name: string): Promise<string> => {
    const yaml = (await readFile(join(FIXTURES, name), 'utf8'))
      .replaceAll('~/Documents', documents)
      .replaceAll('~/Data', data)
      .replaceAll('/home/me/project', project);
    return home.writeConfig(yaml, name);
  };

  const connect = async (token: string): Promise<Client> => {
    const { client } = await connectThroughTools(token, env);
    clients.push(client);
    return client;
  };

  before(async () => {
    home = await ShareHome.create('started');
    documents = join(home.dir, 'Documents');
    data = join(home.dir, 'Data');
    project = join(home.dir, 'project');
    const bin = join(home.dir, 'bin');
    for (const dir of [documents, data, project, bin]) await mkdir(dir);
    await writeFile(join(documents, 'welcome.md'), 'hello from Documents');
    await writeFile(join(data, 'table.csv'), 'a,b\n1,2\n');
    await writeFile(join(project, 'README.md'), 'the project');
    // `command: mcp-filesystem`, as the guide installs it: on the PATH.
    for (const name of ['mcp-filesystem', 'mcp-bridge'] as const) await symlink(binPath(name), join(bin, name));
    env = { ...home.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, GITHUB_TOKEN: 'ghp_not-a-real-token' };
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await home.cleanup();
  });

  void it('every configuration validates', async () => {
    for (const name of ['gateway-config.yml', 'path-policy.yml', 'filters.yml', 'real-world.yml', 'remote.yml']) {
      const result = await runCli('mcp-gateway', ['validate', await config(name)], env);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.match(result.stdout, /: valid/);
    }
  });

  void it('part 3: two mcp-filesystem backends, namespaced with ":" and filtered', async () => {
    const gateway = await home.startGateway({ file: await config('gateway-config.yml') }, { env });
    const client = await connect(gateway.token);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['data:list_directory', 'data:read_file', 'docs:list_directory', 'docs:read_file', 'docs:write_file']);
    assert.equal(text(await client.callTool({ name: 'docs:read_file', arguments: { path: 'welcome.md' } })), 'hello from Documents');
    assert.match(text(await client.callTool({ name: 'data:list_directory', arguments: { path: data } })), /table\.csv/);
  });

  void it('the path policy example', async () => {
    const gateway = await home.startGateway({ file: await config('path-policy.yml') }, { env });
    const client = await connect(gateway.token);
    assert.equal(text(await client.callTool({ name: 'workspace_read_file', arguments: { path: 'README.md' } })), 'the project');
    const outside = await client.callTool({ name: 'workspace_read_file', arguments: { path: join(documents, 'welcome.md') } });
    assert.equal(outside.isError, true);
    assert.match(text(outside), /^gateway policy denied tool call: /);
  });

  void it('the allow and deny filter examples', async () => {
    const gateway = await home.startGateway({ file: await config('filters.yml') }, { env });
    const client = await connect(gateway.token);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['data_list_directory', 'data_read_file', 'docs_list_directory', 'docs_read_file']);
  });

  void it('part 4: a local backend and a remote bridge by its share token', async () => {
    await home.startBridge(['--share-token', 'remote-token', 'mcp-filesystem', data], env);
    const gateway = await home.startGateway({ file: await config('remote.yml') }, { env });
    const client = await connect(gateway.token);
    assert.equal(text(await client.callTool({ name: 'remote_read_file', arguments: { path: 'table.csv' } })), 'a,b\n1,2\n');
    assert.equal(text(await client.callTool({ name: 'local_read_file', arguments: { path: 'welcome.md' } })), 'hello from Documents');
  });
});
