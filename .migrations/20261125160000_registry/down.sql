drop schema braid cascade;
