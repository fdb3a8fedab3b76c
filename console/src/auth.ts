/**
 * Sign-in (SRP: the password never leaves the browser), sign-up with its code, password reset, token refresh and
 * sign-out against the Cognito user pool, through amazon-cognito-identity-js.
 *
 * Tokens live only in this module's memory (MemoryStorage below), never in localStorage or sessionStorage: a
 * reload signs the person out. No script but the bundle's own runs in the page (the CSP has script-src 'self'
 * and no 'unsafe-inline'; notes are shown from the server's sanitized HTML), so nothing injected through user
 * content can reach them.
 */
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserAttribute,
  CognitoUserPool,
  CognitoUserSession,
  type ICognitoStorage,
} from "amazon-cognito-identity-js";
import type { RuntimeConfig } from "./config";

class MemoryStorage implements ICognitoStorage {
  private items = new Map<string, string>();
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
}

export class Auth {
  private pool: CognitoUserPool;
  private storage = new MemoryStorage();
  private listeners = new Set<() => void>();
  private signedInEmail: string | null = null;

  constructor(config: RuntimeConfig) {
    this.pool = new CognitoUserPool({
      UserPoolId: config.userPoolId,
      ClientId: config.clientId,
      endpoint: config.cognitoEndpoint,
      Storage: this.storage,
    });
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }

  private user(email: string): CognitoUser {
    return new CognitoUser({ Username: email, Pool: this.pool, Storage: this.storage });
  }

  get signedIn(): boolean {
    return this.pool.getCurrentUser() !== null;
  }

  signIn(email: string, password: string): Promise<void> {
    const user = this.user(email);
    return new Promise((resolve, reject) => {
      user.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
        onSuccess: () => {
          this.signedInEmail = email;
          this.changed();
          resolve();
        },
        onFailure: (error: Error) => reject(error),
        newPasswordRequired: () => reject(new Error("A new password is required: reset it with 'Forgot password'.")),
        totpRequired: () => reject(new Error("This account uses an authenticator app, which the console does not support yet.")),
      });
    });
  }

  signUp(email: string, password: string): Promise<void> {
    const attributes = [new CognitoUserAttribute({ Name: "email", Value: email })];
    return new Promise((resolve, reject) =>
      this.pool.signUp(email, password, attributes, [], (error) => (error ? reject(error) : resolve())),
    );
  }

  confirmSignUp(email: string, code: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.user(email).confirmRegistration(code, true, (error) => (error ? reject(error) : resolve())),
    );
  }

  forgotPassword(email: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.user(email).forgotPassword({ onSuccess: () => resolve(), onFailure: reject, inputVerificationCode: () => resolve() }),
    );
  }

  confirmPassword(email: string, code: string, password: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.user(email).confirmPassword(code, password, { onSuccess: () => resolve(), onFailure: reject }),
    );
  }

  /** A valid ID token, refreshed with the refresh token when it expired (getSession does that); null when signed out. */
  idToken(): Promise<string | null> {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) =>
      user.getSession((error: Error | null, session: CognitoUserSession | null) =>
        resolve(error || !session ? null : session.getIdToken().getJwtToken()),
      ),
    );
  }

  email(): string | null {
    return this.signedIn ? this.signedInEmail : null;
  }

  /** Revokes the refresh token (global sign-out happens server side through POST /me/sign-out) and forgets every token. */
  signOut(): Promise<void> {
    const user = this.pool.getCurrentUser();
    return new Promise((resolve) => {
      const done = () => {
        this.storage.clear();
        this.signedInEmail = null;
        this.changed();
        resolve();
      };
      if (!user) return done();
      user.getSession(() => user.signOut(done));
    });
  }
}
