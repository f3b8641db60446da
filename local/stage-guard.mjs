// A Serverless plugin (serverless.yml, plugins) keeping the `local` stage, the default, to `npm start`
// and the tests: its settings point at a directory on 127.0.0.1 and its secrets live on this machine.
// - `package` and `deploy` (any of their forms) of the local stage, and of every stage name that
//   lib/config.ts treats as local (secrets from the environment, LDAP_TLS_INSECURE allowed), are
//   refused: name a deployed stage.
// - Anything that runs the functions (`offline`, `invoke local`) needs LDAP_BIND_PASSWORD and
//   JWT_SECRET in its environment, as `npm start` and the tests give them (one JWT secret for all the
//   functions, so each accepts the others' tokens); they are handed to the functions here, at run
//   time, so they never reach serverless.yml's resolved settings or a template.
const LOCAL_STAGE = 'local';
/** The stage names lib/config.ts treats as local (its LOCAL_STAGES; test/unit/config.test.ts checks they are the same). */
export const LOCAL_STAGES = [LOCAL_STAGE, 'offline', 'test'];
const LOCAL_SECRETS = ['LDAP_BIND_PASSWORD', 'JWT_SECRET'];
const BUILDS = new Set(['package', 'deploy']);
const RUNS = new Set(['offline', 'invoke']);

/**
 * What this plugin uses of osls's Serverless instance.
 * @typedef {{
 *   getProvider(name: 'aws'): { getStage(): string },
 *   processedInput: { commands: string[] },
 *   service: { provider: { environment?: Record<string, string | undefined> } },
 *   classes: { Error: new (message: string) => Error },
 * }} Serverless
 */

export default class LocalStageGuard {
  /** @param {Serverless} serverless */
  constructor(serverless) {
    this.hooks = {
      initialize: () => {
        const stage = serverless.getProvider('aws').getStage();
        if (!LOCAL_STAGES.includes(stage)) return;
        const [command = ''] = serverless.processedInput.commands;
        if (BUILDS.has(command)) {
          throw new serverless.classes.Error(
            `The "${stage}" stage is for \`npm start\` and the tests, not for \`serverless ${command}\`: ` +
              `name a deployed stage, e.g. \`--stage prod\` (${LOCAL_STAGES.join(', ')} are local; see README, Deploying).`,
          );
        }
        if (stage !== LOCAL_STAGE || !RUNS.has(command)) return;
        const missing = LOCAL_SECRETS.filter((name) => !process.env[name]);
        if (missing.length > 0) {
          throw new serverless.classes.Error(
            `${missing.join(' and ')} not set: run the local API with \`npm start\`, which sets them ` +
              '(the JWT secret shared by all functions is kept in the local data folder).',
          );
        }
        const environment = (serverless.service.provider.environment ??= {});
        for (const name of LOCAL_SECRETS) environment[name] = process.env[name];
      },
    };
  }
}
