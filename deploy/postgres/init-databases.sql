-- One database per service: no service can read another's tables, and each can move to its own server later.
CREATE DATABASE leaders;
CREATE DATABASE orders;
CREATE DATABASE points;
CREATE DATABASE accounts;
CREATE DATABASE analytics;
