/**
 * The part of the driver kit that loads the Docker client (dockerode): an isolated client's
 * options and stream demux, for drivers that run machines on a local Docker engine. Kept apart
 * from kit.ts so a driver imports it only in the code that talks to the engine.
 */
export {demuxedText, isolatedDockerOptions} from '../engine/engine.js'
