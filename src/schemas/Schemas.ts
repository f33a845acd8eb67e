/**
 * All schemas in one namespace: shared pieces, requests and responses.
 *
 * @since 0.1.0
 */
export * from "./BusinessCircle.js"
export * from "./Common.js"
export * from "./Notifications.js"
export * from "./Payscore.js"
