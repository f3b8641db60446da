// Stands in for the AWS SDK's SSMClient (passed to @middy/ssm as its AwsClient): answers
// GetParameters from a map that a test may change (a rotation), and records what was asked.
export interface Sent {
  Names: string[];
  WithDecryption: boolean;
}

export const fakeSsm = (parameters: Record<string, string>) => {
  const sent: Sent[] = [];
  class FakeSsmClient {
    send(command: { input: Sent }): Promise<unknown> {
      sent.push(command.input);
      const names = command.input.Names;
      return Promise.resolve({
        Parameters: names.filter((name) => name in parameters).map((name) => ({ Name: name, Type: 'SecureString', Value: parameters[name] })),
        InvalidParameters: names.filter((name) => !(name in parameters)),
      });
    }
  }
  return { AwsClient: FakeSsmClient, sent, parameters };
};
