INSERT INTO {table} (session_token, user_id, user_name, user_name_surname, user_email,
  redirect_url, checkout_url, min_payment_usd, max_payment_usd, fiat_currency, language, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::numeric, $10, $11, $12)
