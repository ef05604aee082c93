// The route compiler lives in src/routes (below config, which compiles every route before a run); edgeHub and the
// filter module keep importing it from here.
export * from '../../routes/routes.js';
