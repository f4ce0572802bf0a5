import { addColumnNotNullNoDefault } from './add-column-not-null-no-default';
import { addColumnVolatileDefault } from './add-column-volatile-default';
import { batchLargeDml } from './batch-large-dml';
import { banCharType } from './ban-char-type';
import { columnTypeChange } from './column-type-change';
import { concurrentlyInTransaction } from './concurrently-in-transaction';
import { constraintMissingNotValid } from './constraint-missing-not-valid';
import { dmlWithoutWhere } from './dml-without-where';
import { downMirror } from './down-mirror';
import { dropColumn } from './drop-column';
import { dropDatabase } from './drop-database';
import { dropSchema } from './drop-schema';
import { dropTable } from './drop-table';
import { ignoreWithoutReason } from './ignore-without-reason';
import { missingDown } from './missing-down';
import { preferBigintPrimaryKey } from './prefer-bigint-primary-key';
import { preferIdentity } from './prefer-identity';
import { preferTimestamptz } from './prefer-timestamptz';
import { renameColumn } from './rename-column';
import { renameTable } from './rename-table';
import { requireConcurrentIndexCreation } from './require-concurrent-index-creation';
import { requireConcurrentIndexDeletion } from './require-concurrent-index-deletion';
import { requireLockTimeout } from './require-lock-timeout';
import { setNotNullWithoutCheck } from './set-not-null-without-check';
import { syntaxError } from './syntax-error';
import { transactionControl } from './transaction-control';
import { truncate } from './truncate';
import type { Rule } from './types';
import { uniqueConstraintWithoutIndex } from './unique-constraint-without-index';
import { verifyAssertsNothing } from './verify-asserts-nothing';

export * from './types';

/** Every rule, in documentation order. Ids are stable: never rename one. */
export const RULES: readonly Rule[] = [
  requireConcurrentIndexCreation,
  requireConcurrentIndexDeletion,
  concurrentlyInTransaction,
  constraintMissingNotValid,
  uniqueConstraintWithoutIndex,
  setNotNullWithoutCheck,
  addColumnVolatileDefault,
  addColumnNotNullNoDefault,
  columnTypeChange,
  renameColumn,
  renameTable,
  dropColumn,
  dropTable,
  dropSchema,
  dropDatabase,
  truncate,
  dmlWithoutWhere,
  batchLargeDml,
  preferIdentity,
  preferBigintPrimaryKey,
  banCharType,
  preferTimestamptz,
  transactionControl,
  requireLockTimeout,
  missingDown,
  downMirror,
  verifyAssertsNothing,
  syntaxError,
  ignoreWithoutReason,
];

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}
