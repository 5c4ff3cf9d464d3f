import { CorebankError } from '../errors.ts';

/** The one wording of "this user is locked" (wrong PINs, or staff), for every path. */
export const USER_LOCKED_MESSAGE = 'this user is locked; contact the bank to unlock it';

export function userLockedError(): CorebankError {
  return new CorebankError('USER_LOCKED', USER_LOCKED_MESSAGE);
}
