import { useState, type FormEvent } from "react";
import { problem } from "../api/client";
import { useServices } from "../context";
import { ErrorText } from "../ErrorText";

type Mode = "sign-in" | "sign-up" | "confirm" | "forgot" | "reset";
const TITLES: Record<Mode, string> = {
  "sign-in": "Sign in",
  "sign-up": "Create an account",
  confirm: "Enter the verification code",
  forgot: "Reset your password",
  reset: "Choose a new password",
};

export function SignInPage() {
  const { auth } = useServices();
  const [mode, setMode] = useState<Mode>("sign-in");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "sign-in") await auth.signIn(email, password);
      if (mode === "sign-up") {
        await auth.signUp(email, password);
        setNotice(`We sent a code to ${email}.`);
        setMode("confirm");
      }
      if (mode === "confirm") {
        await auth.confirmSignUp(email, code);
        setCode("");
        await auth.signIn(email, password).catch(() => {
          setNotice("Your address is verified: sign in.");
          setMode("sign-in");
        });
      }
      if (mode === "forgot") {
        await auth.forgotPassword(email);
        setNotice(`If ${email} has an account, we sent it a code.`);
        setMode("reset");
      }
      if (mode === "reset") {
        await auth.confirmPassword(email, code, password);
        setCode("");
        setNotice("Your password is changed: sign in.");
        setMode("sign-in");
      }
    } catch (caught) {
      setError(problem(caught));
    } finally {
      setBusy(false);
    }
  }

  const wantsPassword = mode !== "confirm" && mode !== "forgot";
  const wantsCode = mode === "confirm" || mode === "reset";
  return (
    <section className="card narrow" aria-labelledby="auth-title">
      <h1 id="auth-title">{TITLES[mode]}</h1>
      {notice && <p role="status">{notice}</p>}
      <form onSubmit={(event) => void submit(event)}>
        <label>
          E-mail
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        {wantsCode && (
          <label>
            Verification code
            <input inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          </label>
        )}
        {wantsPassword && (
          <label>
            {mode === "reset" ? "New password" : "Password"}
            <input
              type="password"
              autoComplete={mode === "sign-in" ? "current-password" : "new-password"}
              required
              minLength={mode === "sign-in" ? 1 : 12}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
        )}
        <ErrorText message={error} />
        <button type="submit" className="primary" disabled={busy}>
          {TITLES[mode] === "Create an account" ? "Sign up" : mode === "sign-in" ? "Sign in" : "Continue"}
        </button>
      </form>
      <p className="links">
        {mode !== "sign-in" && (
          <button type="button" className="link" onClick={() => setMode("sign-in")}>
            Back to sign in
          </button>
        )}
        {mode === "sign-in" && (
          <>
            <button type="button" className="link" onClick={() => setMode("sign-up")}>
              Create an account
            </button>
            <button type="button" className="link" onClick={() => setMode("forgot")}>
              Forgot password
            </button>
          </>
        )}
      </p>
    </section>
  );
}
