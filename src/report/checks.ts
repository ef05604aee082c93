// Checks as test cases (thresholds, smoke checks): the shape junit.xml and checks.json hold.

export interface JUnitCase {
  name: string;
  /** Defaults to the suite's name. */
  classname?: string;
  timeSeconds?: number;
  failure?: { message: string; detail?: string };
  /** A check that did not run (e.g. no samples for the operation it names). */
  skipped?: { message: string };
}

export interface JUnitSuite {
  name: string;
  cases: JUnitCase[];
}
