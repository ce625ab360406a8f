/** Raised when the stored data cannot support the requested training run. The message names what is missing. */
export class TrainingDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TrainingDataError'
  }
}
