// Points the handlers that tests invoke directly at the private directory of this run.
import { inject } from 'vitest';

Object.assign(process.env, inject('env'));
