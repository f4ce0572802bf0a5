import { ruleSuite } from './helper';

ruleSuite('ban-char-type', {
  ok: ['CREATE TABLE t (c text, d varchar(3));'],
  error: ['CREATE TABLE t (c char(3));', 'ALTER TABLE t ADD COLUMN c character(2);'],
});
