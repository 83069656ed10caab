import type { Template } from 'aws-cdk-lib/assertions';

/** Reading a synthesized template by what things are, not by their generated logical ids. */

export interface CfnResource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly UpdatePolicy?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

export class TemplateView {
  readonly resources: Record<string, CfnResource>;

  constructor(
    readonly template: Template,
    readonly stage: string,
  ) {
    this.resources = (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources;
  }

  ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  get(logicalId: string): CfnResource {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`no resource ${logicalId}`);
    return resource;
  }

  /** The logical id of the one resource of `type` whose `property` equals `value`. */
  find(type: string, property: string, value: unknown): string {
    const found = this.ofType(type).filter(
      ([, r]) => JSON.stringify(r.Properties[property]) === JSON.stringify(value),
    );
    if (found.length !== 1)
      throw new Error(`${found.length} ${type} with ${property} = ${JSON.stringify(value)}`);
    return found[0]![0];
  }

  functionId(name: string): string {
    return this.find('AWS::Lambda::Function', 'FunctionName', `switchyard-${this.stage}-${name}`);
  }

  aliasIdOf(functionId: string): string {
    return this.find('AWS::Lambda::Alias', 'FunctionName', { Ref: functionId });
  }

  queueId(name: string): string {
    return this.find('AWS::SQS::Queue', 'QueueName', `switchyard-${this.stage}-${name}`);
  }

  roleIdOf(functionId: string): string {
    const role = this.get(functionId).Properties['Role'] as { 'Fn::GetAtt': [string, string] };
    return role['Fn::GetAtt'][0];
  }

  /** Every statement of the policies attached to a role (its inline and attached policies). */
  statementsOf(roleId: string): Statement[] {
    const attached = this.ofType('AWS::IAM::Policy')
      .filter(([, p]) =>
        (p.Properties['Roles'] as unknown[]).some(
          (r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }),
        ),
      )
      .flatMap(([, p]) => (p.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
    const inline = (
      (this.get(roleId).Properties['Policies'] ?? []) as { PolicyDocument: { Statement: Statement[] } }[]
    ).flatMap((p) => p.PolicyDocument.Statement);
    return [...attached, ...inline];
  }

  /** A readable name for a resource reference: queues by name, the table, the secrets. */
  nameOf(reference: unknown): string {
    const json = JSON.stringify(reference);
    const id = /"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)"/.exec(json)?.[1];
    if (!id) return json;
    const resource = this.resources[id];
    if (!resource) return id;
    if (resource.Type === 'AWS::SQS::Queue') {
      return String(resource.Properties['QueueName']).replace(`switchyard-${this.stage}-`, '');
    }
    if (resource.Type === 'AWS::DynamoDB::GlobalTable') return 'idempotency-table';
    if (resource.Type === 'AWS::SecretsManager::SecretTargetAttachment') return 'database-secret';
    if (resource.Type === 'AWS::SecretsManager::Secret') return String(resource.Properties['Name']);
    return id;
  }

  /** Actions granted on each named resource to a function, e.g. `{ low: ['sqs:SendMessage', …] }`. */
  accessOf(functionId: string, service: string): Record<string, string[]> {
    const access: Record<string, Set<string>> = {};
    for (const statement of this.statementsOf(this.roleIdOf(functionId))) {
      const actions = [statement.Action].flat().filter((a) => a.startsWith(`${service}:`));
      if (actions.length === 0) continue;
      for (const resource of [statement.Resource].flat()) {
        const name = this.nameOf(resource);
        access[name] ??= new Set();
        for (const action of actions) access[name].add(action);
      }
    }
    return Object.fromEntries(Object.entries(access).map(([name, actions]) => [name, [...actions].sort()]));
  }

  environmentOf(functionId: string): Record<string, unknown> {
    const environment = this.get(functionId).Properties['Environment'] as
      | { Variables: Record<string, unknown> }
      | undefined;
    return environment?.Variables ?? {};
  }
}
