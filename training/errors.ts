/** Raised when the stored data cannot support the requested training run; the message says what is missing. */
export class TrainingDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TrainingDataError'
  }
}
