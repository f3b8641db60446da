// Path and query parameters, checked against the name allowlists before they reach a DN or filter.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isValidName, type EntityKind } from './dn.js';
import { badRequest } from './errors.js';

/** The `{name}` path parameter, URL-decoded by API Gateway; 400 unless it is a valid name. */
export const pathName = (event: APIGatewayProxyEventV2, kind: EntityKind): string => {
  const name = event.pathParameters?.name ?? '';
  if (!isValidName(kind, name)) throw badRequest(`Invalid ${kind} name`, { errors: { name: `not a valid ${kind} name` } });
  return name;
};
