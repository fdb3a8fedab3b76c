/** A failure in words, announced to screen readers (role="alert"); nothing while there is none. */
export function ErrorText({ message }: { message: string | null | undefined }) {
  return message ? (
    <p role="alert" className="error">
      {message}
    </p>
  ) : null;
}
