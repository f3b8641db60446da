// Path and query parameters, checked against the name allowlists before they reach a DN or filter.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isValidName } from './dn.js';
import { badRequest } from './errors.js';
import type { EntityKind } from './layout.js';

/** The `{name}` path parameter, URL-decoded by API Gateway; 400 unless it is a valid name. */
export const pathName = (event: APIGatewayProxyEventV2, kind: EntityKind): string => {
  const name = event.pathParameters?.name ?? '';
  if (!isValidName(kind, name)) throw badRequest(`Invalid ${kind} name`, { errors: { name: `not a valid ${kind} name` } });
  return name;
};

/** A `true`/`false` query parameter, false when absent; 400 for any other value. */
export const queryFlag = (event: APIGatewayProxyEventV2, name: string): boolean => {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw badRequest(`Invalid ${name}`, { errors: { [name]: 'must be true or false' } });
};
