/**
 * The package entry (`import ... from 'gmemsim'`): for now only the measurement API
 * (src/api/measure.ts). Other parts of gmemsim are reached through its command line.
 */
export * from './api/measure.ts';
