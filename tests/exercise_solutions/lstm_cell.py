import tinygrad_rnn as tg


def lstm_step(x_t, state, p):
    h_prev, C_prev = state
    z_t = tg.cat([h_prev, x_t], axis=-1)                      # (B, H + D)
    f_t = (z_t @ p["W_f"] + p["b_f"]).sigmoid()
    i_t = (z_t @ p["W_i"] + p["b_i"]).sigmoid()
    C_tilde = (z_t @ p["W_c"] + p["b_c"]).tanh()
    o_t = (z_t @ p["W_o"] + p["b_o"]).sigmoid()
    C_t = f_t * C_prev + i_t * C_tilde
    return o_t * C_t.tanh(), C_t
