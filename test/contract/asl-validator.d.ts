/** asl-validator 4 ships no types: the slice of its CommonJS API the contract tests use. */
declare module 'asl-validator' {
  interface AslValidationError {
    'Error code': string;
    Message: string;
  }
  interface AslValidatorOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  const aslValidator: (
    definition: unknown,
    options?: AslValidatorOptions,
  ) => { isValid: boolean; errors: AslValidationError[] };
  export default aslValidator;
}
